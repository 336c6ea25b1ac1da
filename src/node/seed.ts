import type { QueryFn } from '../shared/db/sql.ts';

export interface SeededRepository {
  repositoryId: string;
  workspaceIds: string[];
}

/**
 * A repository tracked by `workspaces` active workspaces (and `inactiveWorkspaces` inactive
 * ones), in the host-app tables. Idempotent for the repository; adds new workspaces each call.
 */
export async function seedRepository(
  query: QueryFn,
  input: { fullName: string; githubId: number; workspaces: number; inactiveWorkspaces?: number },
): Promise<SeededRepository> {
  const [repo] = await query(
    `insert into public.repositories (github_id, full_name) values ($1, $2)
     on conflict (full_name) do update set github_id = excluded.github_id
     returning id`,
    [input.githubId, input.fullName],
  );
  const repositoryId = String(repo?.id);
  const rows = await query(
    `with created as (
       insert into public.workspaces (name, is_active)
       select $2::text || ' workspace ' || g, g <= $3::int
       from generate_series(1, $3::int + $4::int) g
       returning id, is_active
     ), linked as (
       insert into public.workspace_repositories (workspace_id, repository_id)
       select id, $1::uuid from created
     )
     select id from created where is_active order by id`,
    [repositoryId, input.fullName, input.workspaces, input.inactiveWorkspaces ?? 0],
  );
  return { repositoryId, workspaceIds: rows.map((r) => String(r.id)) };
}
