-- Fleet schema 3: the views a quality engineer (and the dashboard) queries. Their columns are a
-- stable interface (docs/fleet.md): a new column may be added at the end, none renamed or removed.

-- A share rounded to 4 decimals (NULL when there is nothing to share).
CREATE FUNCTION fleet.ratio(p_part numeric, p_whole numeric) RETURNS double precision
LANGUAGE sql IMMUTABLE AS $$ SELECT round(p_part / nullif(p_whole, 0), 4)::double precision $$;

-- Attempts in the shape of load_results().cables.
CREATE VIEW fleet.attempts AS
SELECT c.record_index, c.serial, c.lot, c.attempt, c.recipe_name, s.station_name, c.operator,
       c.software_version, c.started_utc, c.finished_utc, c.outcome, c.reason, c.decision_rule,
       c.uncertainty_db, c.coverage_factor, c.reference_id, c.polarity_found, c.kind, c.n_fibers,
       c.n_wavelengths, c.n_launch, c.n_receive, c.stored_utc, c.sha256, c.product, c.station_id
FROM fleet.cables c JOIN fleet.stations s USING (station_id);

-- Fiber rows in the shape of load_results().fibers.
CREATE VIEW fleet.fiber_results AS
SELECT f.record_index, c.serial, c.lot, f.fiber_position, f.wavelength_nm, f.launch_position,
       f.receive_channel, f.reference_power_dbm, f.dut_power_dbm, f.insertion_loss_db, f.limit_db,
       f.margin_db, f.verdict, f.reason, f.station_id
FROM fleet.fibers f JOIN fleet.cables c USING (station_id, record_index);

-- Yield = serials whose latest attempt passed / serials; first-pass yield = serials whose first
-- attempt passed / serials.
CREATE VIEW fleet.yield_by_lot AS
SELECT lot, product, serials, final_passed, fleet.ratio(final_passed, serials) AS yield,
       first_passed, fleet.ratio(first_passed, serials) AS first_pass_yield,
       retested, attempts
FROM fleet.lot_counts WHERE serials > 0;

CREATE VIEW fleet.yield_by_product AS
SELECT product, sum(serials)::bigint AS serials, sum(final_passed)::bigint AS final_passed,
       fleet.ratio(sum(final_passed)::bigint, sum(serials)::bigint) AS yield, sum(first_passed)::bigint AS first_passed,
       fleet.ratio(sum(first_passed)::bigint, sum(serials)::bigint) AS first_pass_yield, sum(retested)::bigint AS retested,
       sum(attempts)::bigint AS attempts
FROM fleet.lot_counts GROUP BY product HAVING sum(serials)::bigint > 0;

-- Per station and day the unit is the attempt: attempt yield = passing attempts / attempts;
-- first-pass yield = passing first attempts / first attempts.
CREATE VIEW fleet.yield_by_station_day AS
SELECT d.day, s.station_name, sum(attempts)::bigint AS attempts, sum(passed)::bigint AS passed,
       fleet.ratio(sum(passed)::bigint, sum(attempts)::bigint) AS attempt_yield, sum(first_attempts)::bigint AS first_attempts,
       sum(first_passed)::bigint AS first_passed, fleet.ratio(sum(first_passed)::bigint, sum(first_attempts)::bigint)
           AS first_pass_yield,
       sum(conditional)::bigint AS conditional, sum(failed)::bigint AS failed, sum(errors)::bigint AS errors, sum(aborted)::bigint AS aborted
FROM fleet.daily_counts d JOIN fleet.stations s USING (station_id) GROUP BY d.day, s.station_name;

CREATE VIEW fleet.yield_by_day AS
SELECT day, sum(attempts)::bigint AS attempts, sum(passed)::bigint AS passed,
       fleet.ratio(sum(passed)::bigint, sum(attempts)::bigint) AS attempt_yield, sum(first_attempts)::bigint AS first_attempts,
       sum(first_passed)::bigint AS first_passed, fleet.ratio(sum(first_passed)::bigint, sum(first_attempts)::bigint)
           AS first_pass_yield,
       sum(conditional)::bigint AS conditional, sum(failed)::bigint AS failed, sum(errors)::bigint AS errors, sum(aborted)::bigint AS aborted
FROM fleet.daily_counts GROUP BY day;

CREATE VIEW fleet.yield_by_station AS
SELECT s.station_name, sum(attempts)::bigint AS attempts, sum(passed)::bigint AS passed,
       fleet.ratio(sum(passed)::bigint, sum(attempts)::bigint) AS attempt_yield, sum(first_attempts)::bigint AS first_attempts,
       sum(first_passed)::bigint AS first_passed, fleet.ratio(sum(first_passed)::bigint, sum(first_attempts)::bigint)
           AS first_pass_yield
FROM fleet.daily_counts d JOIN fleet.stations s USING (station_id) GROUP BY s.station_name;

-- Causes of attempts that did not pass, most frequent first (an attempt counts once per cause).
CREATE VIEW fleet.failure_causes AS
SELECT cause, sum(n_attempts)::bigint AS attempts,
       rank() OVER (ORDER BY sum(n_attempts)::bigint DESC) AS rank
FROM fleet.cause_counts GROUP BY cause;

CREATE VIEW fleet.failure_causes_by_lot AS
SELECT lot, product, cause, sum(n_attempts)::bigint AS attempts,
       rank() OVER (PARTITION BY lot, product ORDER BY sum(n_attempts)::bigint DESC) AS rank
FROM fleet.cause_counts GROUP BY lot, product, cause;

-- IL per ferrule position over every measured fiber (NaN readings excluded), per lot and station.
CREATE VIEW fleet.il_by_position AS
SELECT p.lot, p.product, s.station_name, p.wavelength_nm, p.fiber_position, p.n,
       p.sum_il_db / p.n AS mean_il_db,
       CASE WHEN p.n > 1 THEN sqrt(greatest(p.sum_sq_il_db - p.sum_il_db * p.sum_il_db / p.n, 0) / (p.n - 1)) END
           AS std_il_db,
       p.min_il_db, p.max_il_db, p.n_over_limit
FROM fleet.position_stats p JOIN fleet.stations s USING (station_id);

CREATE VIEW fleet.retests AS
SELECT r.serial, r.lot, r.product, r.attempts, r.first_outcome, r.first_started_utc, r.last_outcome,
       r.last_started_utc, s.station_name AS last_station_name, r.last_record_index
FROM fleet.serial_status r JOIN fleet.stations s ON s.station_id = r.last_station_id
WHERE r.attempts > 1;

-- Records marked SUSPECT whose serial has not been tested again since.
CREATE VIEW fleet.suspect_awaiting_retest AS
SELECT c.serial, c.lot, c.product, s.station_name, c.record_index, c.outcome, c.started_utc,
       a.annotation_index, a.note, a.created_utc AS marked_utc
FROM fleet.annotations a
JOIN fleet.cables c ON c.station_id = a.station_id AND c.record_index = a.record_index
JOIN fleet.stations s ON s.station_id = c.station_id
JOIN fleet.serial_status st ON st.serial = c.serial
WHERE upper(a.kind) = 'SUSPECT' AND st.last_started_utc <= c.started_utc;

-- Station roles insert and read; reader roles (the dashboard) read. Nobody but the owner updates
-- or deletes: a committed record on the server is as immutable as in the station's file.
GRANT USAGE ON SCHEMA fleet TO fleet_station, fleet_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA fleet TO fleet_station, fleet_reader;
GRANT INSERT ON fleet.stations, fleet.sync_batches, fleet.sync_incidents, fleet.reference_measurements,
    fleet.reference_cords, fleet.instruments, fleet.cables, fleet.cable_instruments, fleet.fibers,
    fleet.annotations, fleet.lost_records TO fleet_station;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA fleet TO fleet_station;
REVOKE EXECUTE ON ALL FUNCTIONS IN SCHEMA fleet FROM PUBLIC;
GRANT EXECUTE ON FUNCTION fleet.open_staging(), fleet.acknowledged(text),
    fleet.accept_batch(text, text), fleet.apply_summaries(bigint) TO fleet_station;
GRANT EXECUTE ON FUNCTION fleet.ratio(numeric, numeric) TO fleet_station, fleet_reader;
GRANT EXECUTE ON FUNCTION fleet.acknowledged(text), fleet.failure_cause(text, text, double precision,
    double precision, double precision) TO fleet_reader;
GRANT EXECUTE ON FUNCTION fleet.failure_cause(text, text, double precision, double precision, double precision)
    TO fleet_station;
