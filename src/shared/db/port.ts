/**
 * The one database interface. Every queue and receive operation is a SQL function created by
 * the migrations; TypeScript only calls them by name with named arguments, so the direct-SQL and
 * supabase-js adapters cannot drift apart in logic.
 */
export type SqlFunction =
  | 'webhook_affected_workspaces'
  | 'mark_workspaces_cache_stale'
  | 'inspect_webhook_delivery'
  | 'record_webhook_delivery'
  | 'record_webhook_duplicate'
  | 'receive_webhook_delivery'
  | 'finish_inline_delivery'
  | 'free_drain_kick'
  | 'claim_webhook_jobs'
  | 'settle_webhook_jobs'
  | 'settle_webhook_round'
  | 'webhook_drain_round'
  | 'complete_webhook_job'
  | 'complete_webhook_jobs'
  | 'replay_webhook_jobs'
  | 'count_pending_webhook_jobs'
  | 'release_drain_marker'
  | 'prune_webhook_data'
  | 'acquire_circuit'
  | 'report_circuit'
  | 'get_job_statistics_summary'
  | 'webhook_stats_repositories'
  | 'webhook_stats_routes'
  | 'webhook_stats_recent_failures'
  | 'replay_webhook_delivery'
  | 'webhook_recorded_deliveries'
  | 'webhook_status_page';

export type SqlArgs = Readonly<Record<string, unknown>>;

export interface Database {
  /**
   * Calls `public.<fn>(name => value, …)` and returns its rows. A function returning a scalar
   * comes back as one row `{ [fn]: value }`. Failures to reach or use the database throw
   * DatabaseUnavailableError.
   */
  call<Row = Record<string, unknown>>(fn: SqlFunction, args: SqlArgs): Promise<Row[]>;
}
