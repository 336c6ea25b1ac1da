-- webhook-router: content-addressed dedup and a record of every duplicate.
--
-- GitHub signs only the body: X-GitHub-Delivery and X-GitHub-Event are not signed, so one captured
-- delivery could be sent again under new GUIDs (or relabelled as another event) and pass the
-- signature check. A body already received, by its SHA-256, is therefore a duplicate whatever its
-- GUID. This also counts once an event that a repository hook and an organization hook both deliver.
alter table public.webhook_deliveries add column if not exists body_sha256 bytea;
create unique index if not exists webhook_deliveries_body_sha256_idx
  on public.webhook_deliveries (body_sha256)
  where body_sha256 is not null;

-- Duplicates answer 200 and do no work, but operators still see them (per minute, ack time).
create table if not exists public.webhook_delivery_duplicates (
  id bigint generated always as identity primary key,
  -- The GUID this copy arrived with, and the recorded delivery it repeats.
  delivery_id text not null,
  duplicate_of text not null,
  -- delivery_id: the same GUID again (a redelivery); body: the same signed body under another GUID.
  reason text not null constraint webhook_delivery_duplicates_reason_check check (reason in ('delivery_id', 'body')),
  event text,
  status_code integer not null default 200,
  response_ms integer,
  received_at timestamptz not null default now()
);
create index if not exists webhook_delivery_duplicates_received_idx
  on public.webhook_delivery_duplicates (received_at);

alter table public.webhook_delivery_duplicates enable row level security;
revoke all on public.webhook_delivery_duplicates from public, anon, authenticated;
grant all on public.webhook_delivery_duplicates to service_role;
drop policy if exists webhook_delivery_duplicates_service_role on public.webhook_delivery_duplicates;
create policy webhook_delivery_duplicates_service_role on public.webhook_delivery_duplicates
  for all to service_role using (true) with check (true);
