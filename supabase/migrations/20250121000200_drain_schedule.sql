-- webhook-router: call the drain every minute where pg_cron and pg_net exist (Supabase), so a
-- kick lost after the 202, or a lease left by a crashed drain, is picked up without a human.
-- Elsewhere (plain Postgres, PGlite) this is a no-op: the local stack runs the drain on a timer.
--
-- The URL and bearer token come from Supabase Vault at each run, so no secret is written here:
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1/process-webhook', 'webhook_router_drain_url');
--   select vault.create_secret('<PROCESS_WEBHOOK_SECRET>', 'webhook_router_drain_secret');
-- Until both exist the job runs and sends nothing.
do $$
begin
  if not exists (select 1 from pg_available_extensions where name = 'pg_cron')
     or not exists (select 1 from pg_available_extensions where name = 'pg_net')
     or to_regnamespace('vault') is null then
    raise notice 'webhook-router: pg_cron, pg_net or vault not available; drain schedule not installed';
    return;
  end if;

  create extension if not exists pg_cron;
  create extension if not exists pg_net;

  execute $sql$
    select cron.schedule(
      'webhook-router-drain',
      '* * * * *',
      $job$
        select net.http_post(
          url := (select decrypted_secret from vault.decrypted_secrets where name = 'webhook_router_drain_url'),
          headers := jsonb_build_object(
            'Content-Type', 'application/json',
            'Authorization', 'Bearer ' || (select decrypted_secret from vault.decrypted_secrets
                                           where name = 'webhook_router_drain_secret')),
          body := '{}'::jsonb,
          timeout_milliseconds := 5000)
        where exists (select 1 from vault.decrypted_secrets where name = 'webhook_router_drain_url')
          and exists (select 1 from vault.decrypted_secrets where name = 'webhook_router_drain_secret')
          and exists (select 1 from public.background_jobs
                      where (status = 'queued' and run_at <= now())
                         or (status = 'processing' and locked_until < now()));
      $job$
    )
  $sql$;
end
$$;
