-- Fleet schema 2: the batch protocol. A forwarder fills its session's staging tables
-- (fleet.open_staging) and calls fleet.accept_batch in the same transaction; the server decides
-- what is new, what is a harmless repeat, and what is a changed record or a gap.

CREATE FUNCTION fleet.open_staging() RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    CREATE TEMP TABLE IF NOT EXISTS stage_cables (
        record_index bigint, serial text, lot text, attempt integer, kind text, recipe_name text,
        product text, operator text, software_version text, started_utc timestamptz,
        finished_utc timestamptz, outcome text, reason text, decision_rule text,
        uncertainty_db double precision, coverage_factor double precision, reference_id text,
        polarity_found text, n_fibers integer, n_wavelengths integer, n_launch integer,
        n_receive integer, stored_utc timestamptz, sha256 text, previous_sha256 text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS stage_fibers (
        record_index bigint, fiber_position integer, wavelength_nm double precision,
        launch_position integer, receive_channel integer, reference_power_dbm double precision,
        dut_power_dbm double precision, insertion_loss_db double precision,
        limit_db double precision, margin_db double precision, verdict text, reason text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS stage_instruments (
        record_index bigint, role_name text, manufacturer text, model text, serial_number text,
        firmware text, calibration_due text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS stage_references (
        record_index bigint, reference_id text, method text, taken_utc timestamptz, operator text,
        cord_ids text[], wavelengths_nm double precision[], n_launch integer,
        reference_power_dbm double precision[], sha256 text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS stage_annotations (
        annotation_index bigint, record_index bigint, kind text, note text, created_utc timestamptz,
        sha256 text
    ) ON COMMIT DELETE ROWS;
    CREATE TEMP TABLE IF NOT EXISTS stage_lost (record_index bigint) ON COMMIT DELETE ROWS;
END
$$;

-- Last acknowledged numbers of a station: what its forwarder sends after.
CREATE FUNCTION fleet.acknowledged(p_station text,
    OUT last_record_index bigint, OUT last_reference_index bigint, OUT last_annotation_index bigint)
LANGUAGE sql STABLE AS $$
    SELECT coalesce((SELECT max(record_index) FROM fleet.cables c WHERE c.station_id = s.station_id), -1),
           coalesce((SELECT max(record_index) FROM fleet.reference_measurements r
                     WHERE r.station_id = s.station_id), -1),
           coalesce((SELECT max(annotation_index) FROM fleet.annotations a WHERE a.station_id = s.station_id), -1)
    FROM (SELECT station_id FROM fleet.stations WHERE station_name = p_station
          UNION ALL SELECT NULL WHERE NOT EXISTS (SELECT 1 FROM fleet.stations WHERE station_name = p_station)) s
    LIMIT 1
$$;

CREATE TABLE fleet.summarized_batches (batch_id bigint PRIMARY KEY REFERENCES fleet.sync_batches);

CREATE FUNCTION fleet.failure_cause(p_verdict text, p_reason text, p_il_db double precision,
                                    p_limit_db double precision, p_wavelength_nm double precision)
RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_il_db = 'NaN'::double precision THEN 'no reading (below the meter floor or dark fiber)'
        WHEN p_verdict IN ('FAIL', 'CONDITIONAL') AND p_il_db > p_limit_db
            THEN 'insertion loss over limit at ' || p_wavelength_nm::text || ' nm'
        WHEN p_verdict IN ('FAIL', 'CONDITIONAL') THEN 'within limit but inside the guard band at '
            || p_wavelength_nm::text || ' nm'
        ELSE regexp_replace(regexp_replace(p_reason, '^fiber [0-9]+ at [0-9.]+ nm: ', ''),
                            '[-+]?[0-9]+(\.[0-9]+)?', 'N', 'g')
    END
$$;

-- Summaries of one committed batch (owner's rights: a station role only inserts and reads).
-- Hash aggregation: the planner cannot know a batch's size (its rows were inserted a moment ago,
-- so it guesses a handful and sorts); a sort of the batch's 24,000 fiber rows took most of the time.
CREATE FUNCTION fleet.apply_summaries(p_batch bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fleet, pg_temp SET enable_sort = off AS $$
BEGIN
    -- Once per batch: a second call fails on the key instead of counting the batch twice.
    INSERT INTO fleet.summarized_batches VALUES (p_batch);
    INSERT INTO fleet.daily_counts AS d
    SELECT (c.started_utc AT TIME ZONE 'UTC')::date, c.station_id, c.lot, c.product, count(*),
           count(*) FILTER (WHERE outcome = 'PASS'), count(*) FILTER (WHERE outcome = 'CONDITIONAL'),
           count(*) FILTER (WHERE outcome = 'FAIL'), count(*) FILTER (WHERE outcome = 'ERROR'),
           count(*) FILTER (WHERE outcome = 'ABORTED'), count(*) FILTER (WHERE attempt = 1),
           count(*) FILTER (WHERE attempt = 1 AND outcome = 'PASS')
    FROM fleet.cables c WHERE c.batch_id = p_batch GROUP BY 1, 2, 3, 4
    ON CONFLICT (day, station_id, lot, product) DO UPDATE SET
        attempts = d.attempts + excluded.attempts, passed = d.passed + excluded.passed,
        conditional = d.conditional + excluded.conditional, failed = d.failed + excluded.failed,
        errors = d.errors + excluded.errors, aborted = d.aborted + excluded.aborted,
        first_attempts = d.first_attempts + excluded.first_attempts,
        first_passed = d.first_passed + excluded.first_passed;

    INSERT INTO fleet.position_stats AS p
    SELECT c.lot, c.product, c.station_id, f.wavelength_nm, f.fiber_position, count(*),
           sum(f.insertion_loss_db), sum(f.insertion_loss_db * f.insertion_loss_db),
           min(f.insertion_loss_db), max(f.insertion_loss_db),
           count(*) FILTER (WHERE f.insertion_loss_db > f.limit_db)
    FROM fleet.cables c JOIN fleet.fibers f USING (station_id, record_index)
    WHERE c.batch_id = p_batch AND f.insertion_loss_db <> 'NaN'::double precision
    GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (lot, product, station_id, wavelength_nm, fiber_position) DO UPDATE SET
        n = p.n + excluded.n, sum_il_db = p.sum_il_db + excluded.sum_il_db,
        sum_sq_il_db = p.sum_sq_il_db + excluded.sum_sq_il_db,
        min_il_db = least(p.min_il_db, excluded.min_il_db), max_il_db = greatest(p.max_il_db, excluded.max_il_db),
        n_over_limit = p.n_over_limit + excluded.n_over_limit;

    INSERT INTO fleet.cause_counts AS k
    SELECT day, station_id, lot, product, cause, count(*) FROM (
        SELECT DISTINCT (c.started_utc AT TIME ZONE 'UTC')::date AS day, c.station_id, c.lot, c.product,
               c.record_index,
               coalesce(fleet.failure_cause(f.verdict, f.reason, f.insertion_loss_db, f.limit_db, f.wavelength_nm),
                        fleet.failure_cause(NULL, c.reason, NULL, NULL, NULL)) AS cause
        FROM fleet.cables c
        LEFT JOIN fleet.fibers f ON f.station_id = c.station_id AND f.record_index = c.record_index
                                AND f.verdict <> 'PASS'
        WHERE c.batch_id = p_batch AND c.outcome <> 'PASS'
    ) causes GROUP BY 1, 2, 3, 4, 5
    ON CONFLICT (day, station_id, lot, product, cause) DO UPDATE SET n_attempts = k.n_attempts + excluded.n_attempts;

    PERFORM fleet.apply_serial_status(p_batch);
END
$$;

CREATE FUNCTION fleet.apply_serial_status(p_batch bigint) RETURNS void
LANGUAGE plpgsql SECURITY DEFINER SET search_path = fleet, pg_temp AS $$
BEGIN
    CREATE TEMP TABLE serial_change ON COMMIT DROP AS
    WITH batch AS (
        SELECT serial, count(*) AS n,
               (array_agg(lot ORDER BY started_utc, station_id, record_index))[1] AS lot,
               (array_agg(product ORDER BY started_utc, station_id, record_index))[1] AS product,
               min(started_utc) AS first_started,
               (array_agg(outcome ORDER BY started_utc, station_id, record_index))[1] AS first_outcome,
               max(started_utc) AS last_started,
               (array_agg(outcome ORDER BY started_utc DESC, station_id DESC, record_index DESC))[1] AS last_outcome,
               (array_agg(station_id ORDER BY started_utc DESC, station_id DESC, record_index DESC))[1] AS last_station,
               (array_agg(record_index ORDER BY started_utc DESC, station_id DESC, record_index DESC))[1] AS last_record
        FROM fleet.cables WHERE batch_id = p_batch GROUP BY serial
    )
    SELECT b.serial, o.serial IS NOT NULL AS existed,
           o.lot AS old_lot, o.product AS old_product, o.attempts AS old_attempts,
           o.first_outcome AS old_first_outcome, o.last_outcome AS old_last_outcome,
           coalesce(o.lot, b.lot) AS lot, coalesce(o.product, b.product) AS product,
           coalesce(o.attempts, 0) + b.n AS attempts,
           CASE WHEN o.serial IS NULL OR b.first_started < o.first_started_utc THEN b.first_started
                ELSE o.first_started_utc END AS first_started_utc,
           CASE WHEN o.serial IS NULL OR b.first_started < o.first_started_utc THEN b.first_outcome
                ELSE o.first_outcome END AS first_outcome,
           CASE WHEN o.serial IS NULL OR b.last_started >= o.last_started_utc THEN b.last_started
                ELSE o.last_started_utc END AS last_started_utc,
           CASE WHEN o.serial IS NULL OR b.last_started >= o.last_started_utc THEN b.last_outcome
                ELSE o.last_outcome END AS last_outcome,
           CASE WHEN o.serial IS NULL OR b.last_started >= o.last_started_utc THEN b.last_station
                ELSE o.last_station_id END AS last_station_id,
           CASE WHEN o.serial IS NULL OR b.last_started >= o.last_started_utc THEN b.last_record
                ELSE o.last_record_index END AS last_record_index
    FROM batch b LEFT JOIN fleet.serial_status o ON o.serial = b.serial;

    INSERT INTO fleet.lot_counts AS l
    SELECT lot, product, sum(serials), sum(final_passed), sum(first_passed), sum(retested), sum(attempts) FROM (
        SELECT old_lot AS lot, old_product AS product, -1 AS serials,
               -(old_last_outcome = 'PASS')::int AS final_passed, -(old_first_outcome = 'PASS')::int AS first_passed,
               -(old_attempts > 1)::int AS retested, -old_attempts AS attempts
        FROM serial_change WHERE existed
        UNION ALL
        SELECT lot, product, 1, (last_outcome = 'PASS')::int, (first_outcome = 'PASS')::int,
               (attempts > 1)::int, attempts
        FROM serial_change
    ) delta GROUP BY lot, product
    ON CONFLICT (lot, product) DO UPDATE SET
        serials = l.serials + excluded.serials, final_passed = l.final_passed + excluded.final_passed,
        first_passed = l.first_passed + excluded.first_passed, retested = l.retested + excluded.retested,
        attempts = l.attempts + excluded.attempts;

    INSERT INTO fleet.serial_status AS s
    SELECT serial, lot, product, attempts, first_started_utc, first_outcome, last_started_utc, last_outcome,
           last_station_id, last_record_index
    FROM serial_change
    ON CONFLICT (serial) DO UPDATE SET
        attempts = excluded.attempts, first_started_utc = excluded.first_started_utc,
        first_outcome = excluded.first_outcome, last_started_utc = excluded.last_started_utc,
        last_outcome = excluded.last_outcome, last_station_id = excluded.last_station_id,
        last_record_index = excluded.last_record_index;

    DROP TABLE serial_change;
END
$$;

-- Takes what the session staged and returns what happened, as JSON:
-- {"batch_id", "cables", "duplicates", "references", "annotations", "incidents": [...]}.
CREATE FUNCTION fleet.accept_batch(p_station text, p_software_version text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_station integer;
    v_batch bigint;
    v_last bigint;
    v_new integer;
    v_dup integer;
    v_refs integer;
    v_notes integer;
    v_incidents jsonb;
BEGIN
    INSERT INTO fleet.stations (station_name) VALUES (p_station) ON CONFLICT (station_name) DO NOTHING;
    SELECT station_id INTO v_station FROM fleet.stations WHERE station_name = p_station;
    -- Two forwarders of one station (a restarted one beside a stuck one) take turns.
    PERFORM pg_advisory_xact_lock(7421, v_station);
    SELECT coalesce(max(record_index), -1) INTO v_last FROM fleet.cables WHERE station_id = v_station;
    v_batch := nextval(pg_get_serial_sequence('fleet.sync_batches', 'batch_id'));

    INSERT INTO fleet.lost_records SELECT DISTINCT v_station, record_index FROM pg_temp.stage_lost
    ON CONFLICT DO NOTHING;

    CREATE TEMP TABLE IF NOT EXISTS batch_incidents (kind text, record_index bigint, stored_sha256 text,
        received_sha256 text, detail text) ON COMMIT DELETE ROWS;

    INSERT INTO batch_incidents
    SELECT 'changed_record', s.record_index, c.sha256, s.sha256,
           'record ' || s.record_index || ' (' || s.serial || ') arrived with another hash than the one stored'
    FROM pg_temp.stage_cables s JOIN fleet.cables c ON c.station_id = v_station AND c.record_index = s.record_index
    WHERE c.sha256 <> s.sha256;
    SELECT count(*) INTO v_dup FROM pg_temp.stage_cables s
    JOIN fleet.cables c ON c.station_id = v_station AND c.record_index = s.record_index AND c.sha256 = s.sha256;

    CREATE TEMP TABLE IF NOT EXISTS batch_new (LIKE pg_temp.stage_cables) ON COMMIT DELETE ROWS;
    INSERT INTO batch_new SELECT DISTINCT ON (s.record_index) s.* FROM pg_temp.stage_cables s
    WHERE NOT EXISTS (SELECT 1 FROM fleet.cables c WHERE c.station_id = v_station AND c.record_index = s.record_index)
    ORDER BY s.record_index;
    SELECT count(*) INTO v_new FROM batch_new;

    -- Gaps: a new number must follow the one before it, unless the numbers between were declared lost.
    INSERT INTO batch_incidents
    SELECT 'gap', n.record_index, NULL, n.sha256,
           'records ' || (n.prev + 1) || '-' || (n.record_index - 1) || ' never arrived and were not declared lost'
    FROM (SELECT record_index, sha256, coalesce(lag(record_index) OVER (ORDER BY record_index), v_last) AS prev
          FROM batch_new) n
    WHERE n.record_index > n.prev + 1
      AND EXISTS (SELECT 1 FROM generate_series(n.prev + 1, n.record_index - 1) g(i)
                  WHERE NOT EXISTS (SELECT 1 FROM fleet.lost_records l WHERE l.station_id = v_station
                                    AND l.record_index = g.i));

    -- Chain: each record names its predecessor's hash; another hash there means that predecessor
    -- was changed (or replaced) in the station's file after it was sent.
    INSERT INTO batch_incidents
    SELECT 'broken_chain', n.record_index - 1, p.sha256, n.previous_sha256,
           'record ' || n.record_index || ' follows a record ' || (n.record_index - 1)
           || ' whose hash differs from the one stored: the station''s copy was changed after it was sent'
    FROM batch_new n
    JOIN (SELECT record_index, sha256 FROM fleet.cables WHERE station_id = v_station
          UNION ALL SELECT record_index, sha256 FROM batch_new) p ON p.record_index = n.record_index - 1
    WHERE p.sha256 <> n.previous_sha256;

    INSERT INTO batch_incidents
    SELECT 'changed_reference', s.record_index, r.sha256, s.sha256,
           'reference ' || s.record_index || ' (' || s.reference_id || ') arrived with another hash'
    FROM pg_temp.stage_references s
    JOIN fleet.reference_measurements r ON r.station_id = v_station AND r.record_index = s.record_index
    WHERE r.sha256 <> s.sha256;
    INSERT INTO batch_incidents
    SELECT 'changed_annotation', s.annotation_index, a.sha256, s.sha256,
           'annotation ' || s.annotation_index || ' arrived with another hash'
    FROM pg_temp.stage_annotations s
    JOIN fleet.annotations a ON a.station_id = v_station AND a.annotation_index = s.annotation_index
    WHERE a.sha256 <> s.sha256;

    SELECT count(*) INTO v_refs FROM pg_temp.stage_references s WHERE NOT EXISTS (
        SELECT 1 FROM fleet.reference_measurements r WHERE r.station_id = v_station AND r.record_index = s.record_index);
    SELECT count(*) INTO v_notes FROM pg_temp.stage_annotations s WHERE NOT EXISTS (
        SELECT 1 FROM fleet.annotations a WHERE a.station_id = v_station AND a.annotation_index = s.annotation_index);

    INSERT INTO fleet.sync_batches (batch_id, station_id, n_cables, n_references, n_annotations, n_duplicates,
                                    software_version)
    VALUES (v_batch, v_station, v_new, v_refs, v_notes, v_dup, p_software_version);

    INSERT INTO fleet.reference_measurements
    SELECT DISTINCT ON (s.record_index) v_station, s.record_index, s.reference_id, s.method, s.taken_utc, s.operator,
           s.cord_ids, s.wavelengths_nm, s.n_launch, s.reference_power_dbm, s.sha256, v_batch
    FROM pg_temp.stage_references s
    ORDER BY s.record_index
    ON CONFLICT (station_id, record_index) DO NOTHING;
    INSERT INTO fleet.reference_cords
    SELECT DISTINCT v_station, r.record_index, cord FROM fleet.reference_measurements r, unnest(r.cord_ids) cord
    WHERE r.station_id = v_station AND r.batch_id = v_batch;

    INSERT INTO fleet.cables
    SELECT v_station, record_index, serial, lot, attempt, kind, recipe_name, product, operator, software_version,
           started_utc, finished_utc, outcome, reason, decision_rule, uncertainty_db, coverage_factor, reference_id,
           polarity_found, n_fibers, n_wavelengths, n_launch, n_receive, stored_utc, sha256, previous_sha256, v_batch
    FROM batch_new;
    INSERT INTO fleet.fibers
    SELECT v_station, f.record_index, f.fiber_position, f.wavelength_nm, f.launch_position, f.receive_channel,
           f.reference_power_dbm, f.dut_power_dbm, f.insertion_loss_db, f.limit_db, f.margin_db, f.verdict, f.reason
    FROM pg_temp.stage_fibers f JOIN batch_new n USING (record_index);

    INSERT INTO fleet.instruments (manufacturer, model, serial_number, firmware, calibration_due)
    SELECT DISTINCT i.manufacturer, i.model, i.serial_number, i.firmware, i.calibration_due
    FROM pg_temp.stage_instruments i JOIN batch_new n USING (record_index)
    ON CONFLICT DO NOTHING;
    INSERT INTO fleet.cable_instruments
    SELECT DISTINCT ON (i.record_index, i.role_name) v_station, i.record_index, k.instrument_id, i.role_name
    FROM pg_temp.stage_instruments i JOIN batch_new n USING (record_index)
    JOIN fleet.instruments k ON (k.manufacturer, k.model, k.serial_number, k.firmware, k.calibration_due)
                              = (i.manufacturer, i.model, i.serial_number, i.firmware, i.calibration_due)
    ORDER BY i.record_index, i.role_name;

    INSERT INTO fleet.annotations
    SELECT DISTINCT ON (s.annotation_index) v_station, s.annotation_index, s.record_index, s.kind, s.note,
           s.created_utc, s.sha256, v_batch
    FROM pg_temp.stage_annotations s ORDER BY s.annotation_index
    ON CONFLICT (station_id, annotation_index) DO NOTHING;

    INSERT INTO fleet.sync_incidents (station_id, kind, record_index, stored_sha256, received_sha256, detail)
    SELECT v_station, kind, record_index, stored_sha256, received_sha256, detail FROM batch_incidents;

    PERFORM fleet.apply_summaries(v_batch);

    SELECT coalesce(jsonb_agg(jsonb_build_object('kind', kind, 'record_index', record_index,
                                                 'stored_sha256', stored_sha256, 'received_sha256', received_sha256,
                                                 'detail', detail) ORDER BY record_index), '[]'::jsonb)
    INTO v_incidents FROM batch_incidents;
    RETURN jsonb_build_object('batch_id', v_batch, 'cables', v_new, 'duplicates', v_dup, 'references', v_refs,
                              'annotations', v_notes, 'incidents', v_incidents);
END
$$;
