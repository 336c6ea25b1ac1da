import { databaseError, DatabaseUnavailableError } from '../errors.ts';
import type { Database, SqlArgs, SqlFunction } from './port.ts';

/** The part of a supabase-js client this adapter uses; keeps src/shared free of the SDK. */
export interface RpcClient {
  rpc(fn: string, args: Record<string, unknown>): PromiseLike<{ data: unknown; error: { message: string; code?: string } | null }>;
}

/** The production Netlify path: PostgREST `rpc()` with the service role key. */
export function createRpcDatabase(client: RpcClient): Database {
  return {
    async call<Row>(fn: SqlFunction, args: SqlArgs): Promise<Row[]> {
      const defined = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
      let result: { data: unknown; error: { message: string; code?: string } | null };
      try {
        result = await client.rpc(fn, defined);
      } catch (error) {
        throw new DatabaseUnavailableError(`${fn} failed: ${String(error)}`, { cause: error });
      }
      if (result.error) {
        // PostgREST's own errors (PGRST…) are requests it refused: not an outage.
        const refused = /^PGRST/.test(result.error.code ?? '') && !/^PGRST00/.test(result.error.code ?? '');
        throw databaseError(`${fn} failed: ${result.error.message}`, refused ? { code: 'XX000' } : result.error);
      }
      const { data } = result;
      if (Array.isArray(data)) return data as Row[];
      return [{ [fn]: data } as Row];
    },
  };
}
