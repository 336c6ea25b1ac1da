import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { sign } from '@octokit/webhooks-methods';
import { ConfigError, errorMessage } from '../../shared/errors.ts';
import { parseRepo, parseVerbArgs, UsageError } from '../args.ts';
import { signingSecret, type Verb } from '../context.ts';
import { HYBRID_PATH } from '../stack/paths.ts';
import { readStackFile } from '../stack/stack-file.ts';
import { exampleActions, examplePayload } from '../examples.ts';
import { freshPayload } from '../fresh-payload.ts';
import { dataDir } from '../local-db.ts';
import { stableGithubId } from './seed.ts';

export const send: Verb = {
  usage: `webhook-router send <event> [--action A] [--repo owner/name] [--payload file.json] [--url URL] [--delivery GUID] [--form]

Signs a delivery with GITHUB_WEBHOOK_SECRET (or the running local stack's development secret) and
POSTs it, by default to the local hybrid receiver. Without --payload the body is a real example of
<event> from @octokit/webhooks-examples with its repository rewritten to --repo, made unique as
GitHub's bodies are (fresh timestamps and head commit), so each send is a new event. Prints the answer.`,
  async run(argv, ctx) {
    const { values, positionals } = parseVerbArgs(
      argv,
      {
        action: { type: 'string' },
        repo: { type: 'string' },
        payload: { type: 'string' },
        url: { type: 'string' },
        delivery: { type: 'string' },
        form: { type: 'boolean' },
      },
      true,
    );
    const [event, ...extra] = positionals;
    if (!event) throw new UsageError('<event> is required, e.g. push, pull_request, issues, repository, ping');
    if (extra.length) throw new UsageError(`unexpected argument "${extra[0]}"`);
    const repo = values.repo !== undefined ? parseRepo(values.repo) : null;
    const url = values.url ?? `${readStackFile(ctx.env)?.url ?? `http://127.0.0.1:${ctx.env.PORT?.trim() || 8888}`}${HYBRID_PATH}`;
    if (values.url !== undefined) {
      let parsed: URL | null = null;
      try {
        parsed = new URL(values.url);
      } catch {
        // Reported below.
      }
      if (!parsed || (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')) {
        throw new UsageError(`--url must be an http:// or https:// URL, got "${values.url}"`);
      }
    }

    let payload: Record<string, unknown>;
    if (values.payload !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(await readFile(values.payload, 'utf8'));
      } catch (error) {
        throw new UsageError(`--payload ${values.payload}: ${(error as Error).message}`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new UsageError(`--payload ${values.payload}: must hold a JSON object (a webhook payload)`);
      }
      payload = parsed as Record<string, unknown>;
    } else {
      const example = examplePayload(event, values.action);
      if (!example) {
        const actions = exampleActions(event);
        throw new UsageError(
          values.action !== undefined && examplePayload(event)
            ? `--action "${values.action}": no ${event} example has it; ${actions.length ? `try one of: ${actions.join(', ')}` : `${event} examples have no action`}`
            : `no example payload for event "${event}"; pass --payload file.json`,
        );
      }
      payload = freshPayload(event, example);
    }
    if (repo) {
      const repository = (payload.repository ?? {}) as Record<string, unknown>;
      payload.repository = {
        ...repository,
        id: stableGithubId(repo.fullName),
        name: repo.name,
        full_name: repo.fullName,
        owner: { ...((repository.owner as object) ?? {}), login: repo.owner },
      };
    }

    const secret = signingSecret(ctx);
    if (!secret) {
      throw new ConfigError('GITHUB_WEBHOOK_SECRET', `is not set, and no local stack runs from ${dataDir(ctx.env)} to lend its development secret`);
    }
    const json = JSON.stringify(payload);
    const body = values.form ? `payload=${encodeURIComponent(json)}` : json;
    const delivery = values.delivery ?? randomUUID();
    let response: Response;
    try {
      response = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': values.form ? 'application/x-www-form-urlencoded' : 'application/json',
          'x-github-event': event,
          'x-github-delivery': delivery,
          'x-hub-signature-256': await sign(secret, body),
          'user-agent': 'GitHub-Hookshot/webhook-router-cli',
        },
        body,
      });
    } catch (error) {
      const cause = (error as Error).cause;
      ctx.err(`error: could not reach ${url}: ${errorMessage(cause ?? error)}`);
      return 1;
    }
    const text = await response.text();
    ctx.out(`${response.status} ${event} delivery ${delivery}`);
    ctx.out(text);
    return response.status < 400 ? 0 : 1;
  },
};
