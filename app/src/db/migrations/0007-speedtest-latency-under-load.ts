// Latency under load and the test's source: the latency (and its jitter) measured while the
// download and while the upload saturated the link, and the local address, interface and IP
// family the test ran from, as columns to chart, filter and alert on. Ookla's results already
// carry their loaded latency in `raw` (download.latency.iqm, upload.latency.iqm): copied over.
import type { Migration } from '../migrator.ts';

export const up: Migration = async ({ context: sql }) => {
  await sql.query(
    `ALTER TABLE speedtests
       ADD COLUMN download_latency_ms double precision CHECK (download_latency_ms >= 0),
       ADD COLUMN download_jitter_ms double precision CHECK (download_jitter_ms >= 0),
       ADD COLUMN upload_latency_ms double precision CHECK (upload_latency_ms >= 0),
       ADD COLUMN upload_jitter_ms double precision CHECK (upload_jitter_ms >= 0),
       ADD COLUMN source_address inet,
       ADD COLUMN source_interface text,
       ADD COLUMN ip_family smallint CHECK (ip_family IN (4, 6))`,
  );
  // jsonb_typeof guards the casts: a hand-edited or older raw with another shape stays NULL.
  await sql.query(
    `UPDATE speedtests SET
       download_latency_ms = CASE WHEN jsonb_typeof(raw #> '{download,latency,iqm}') = 'number'
         THEN (raw #>> '{download,latency,iqm}')::double precision END,
       download_jitter_ms = CASE WHEN jsonb_typeof(raw #> '{download,latency,jitter}') = 'number'
         THEN (raw #>> '{download,latency,jitter}')::double precision END,
       upload_latency_ms = CASE WHEN jsonb_typeof(raw #> '{upload,latency,iqm}') = 'number'
         THEN (raw #>> '{upload,latency,iqm}')::double precision END,
       upload_jitter_ms = CASE WHEN jsonb_typeof(raw #> '{upload,latency,jitter}') = 'number'
         THEN (raw #>> '{upload,latency,jitter}')::double precision END
     WHERE engine = 'ookla'`,
  );
};

export const down: Migration = async ({ context: sql }) => {
  await sql.query(
    `ALTER TABLE speedtests
       DROP COLUMN download_latency_ms, DROP COLUMN download_jitter_ms,
       DROP COLUMN upload_latency_ms, DROP COLUMN upload_jitter_ms,
       DROP COLUMN source_address, DROP COLUMN source_interface, DROP COLUMN ip_family`,
  );
};
