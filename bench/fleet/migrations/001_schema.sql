-- Fleet schema 1: the tables every station's records land in, the summaries the views read, and
-- the two group roles. Applied by bench.fleet.migrate in one transaction; never edited once
-- released (a change is a new numbered file).

CREATE SCHEMA IF NOT EXISTS fleet;

-- Group roles (NOLOGIN): a plant grants them to its own login roles (docs/fleet.md).
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleet_station') THEN
        CREATE ROLE fleet_station NOLOGIN;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'fleet_reader') THEN
        CREATE ROLE fleet_reader NOLOGIN;
    END IF;
END
$$;

CREATE TABLE fleet.stations (
    station_id      serial PRIMARY KEY,
    station_name    text NOT NULL UNIQUE,
    first_seen_utc  timestamptz NOT NULL DEFAULT now()
);

-- One row per batch a forwarder committed: the acknowledgement trail.
CREATE TABLE fleet.sync_batches (
    batch_id        bigserial PRIMARY KEY,
    station_id      integer NOT NULL REFERENCES fleet.stations,
    received_utc    timestamptz NOT NULL DEFAULT now(),
    n_cables        integer NOT NULL,
    n_references    integer NOT NULL,
    n_annotations   integer NOT NULL,
    n_duplicates    integer NOT NULL,
    software_version text NOT NULL
);

-- A record that arrived with another hash than the one already stored, or a record number that
-- skips one the station never declared lost: found by fleet.accept_batch, never silently merged.
CREATE TABLE fleet.sync_incidents (
    incident_id     bigserial PRIMARY KEY,
    station_id      integer NOT NULL REFERENCES fleet.stations,
    detected_utc    timestamptz NOT NULL DEFAULT now(),
    kind            text NOT NULL CHECK (kind IN ('changed_record', 'gap', 'broken_chain', 'changed_reference',
                                                  'changed_annotation')),
    record_index    bigint,
    stored_sha256   text,
    received_sha256 text,
    detail          text NOT NULL
);

CREATE TABLE fleet.reference_measurements (
    station_id      integer NOT NULL REFERENCES fleet.stations,
    record_index    bigint NOT NULL,
    reference_id    text NOT NULL,
    method          text NOT NULL,
    taken_utc       timestamptz NOT NULL,
    operator        text NOT NULL,
    cord_ids        text[] NOT NULL,
    wavelengths_nm  double precision[] NOT NULL,
    n_launch        integer NOT NULL,
    reference_power_dbm double precision[] NOT NULL,  -- [wavelength][launch], row-major
    sha256          text NOT NULL,
    batch_id        bigint NOT NULL REFERENCES fleet.sync_batches,
    PRIMARY KEY (station_id, record_index)
);
CREATE INDEX reference_measurements_id ON fleet.reference_measurements (reference_id);

-- Instrument identities as the stations report them, one row per distinct identity.
CREATE TABLE fleet.instruments (
    instrument_id   serial PRIMARY KEY,
    manufacturer    text NOT NULL,
    model           text NOT NULL,
    serial_number   text NOT NULL,
    firmware        text NOT NULL,
    calibration_due text NOT NULL,
    UNIQUE (manufacturer, model, serial_number, firmware, calibration_due)
);

-- A cable test attempt: the station's record, keyed by (station, record number).
CREATE TABLE fleet.cables (
    station_id      integer NOT NULL REFERENCES fleet.stations,
    record_index    bigint NOT NULL,
    serial          text NOT NULL,
    lot             text NOT NULL,
    attempt         integer NOT NULL,
    kind            text NOT NULL,
    recipe_name     text NOT NULL,
    product         text NOT NULL,
    operator        text NOT NULL,
    software_version text NOT NULL,
    started_utc     timestamptz NOT NULL,
    finished_utc    timestamptz NOT NULL,
    outcome         text NOT NULL CHECK (outcome IN ('PASS', 'CONDITIONAL', 'FAIL', 'ERROR', 'ABORTED')),
    reason          text NOT NULL,
    decision_rule   text NOT NULL,
    uncertainty_db  double precision NOT NULL,
    coverage_factor double precision NOT NULL,
    reference_id    text NOT NULL,
    polarity_found  text NOT NULL,
    n_fibers        integer NOT NULL,
    n_wavelengths   integer NOT NULL,
    n_launch        integer NOT NULL,
    n_receive       integer NOT NULL,
    stored_utc      timestamptz NOT NULL,
    sha256          text NOT NULL,
    previous_sha256 text NOT NULL,
    batch_id        bigint NOT NULL REFERENCES fleet.sync_batches,
    PRIMARY KEY (station_id, record_index)
);
CREATE INDEX cables_serial ON fleet.cables (serial);
CREATE INDEX cables_lot ON fleet.cables (lot);
CREATE INDEX cables_started ON fleet.cables (started_utc);
CREATE INDEX cables_batch ON fleet.cables (batch_id);

CREATE TABLE fleet.cable_instruments (
    station_id      integer NOT NULL,
    record_index    bigint NOT NULL,
    instrument_id   integer NOT NULL REFERENCES fleet.instruments,
    role_name       text NOT NULL,
    PRIMARY KEY (station_id, record_index, role_name),
    FOREIGN KEY (station_id, record_index) REFERENCES fleet.cables
);

-- Test cords as referenced: which cord was in which reference (a cord's wear shows per cord).
CREATE TABLE fleet.reference_cords (
    station_id      integer NOT NULL,
    record_index    bigint NOT NULL,
    cord_id         text NOT NULL,
    PRIMARY KEY (station_id, record_index, cord_id),
    FOREIGN KEY (station_id, record_index) REFERENCES fleet.reference_measurements
);

-- One row per fiber x wavelength, as in the station's /fibers table.
CREATE TABLE fleet.fibers (
    station_id      integer NOT NULL,
    record_index    bigint NOT NULL,
    fiber_position  integer NOT NULL,
    wavelength_nm   double precision NOT NULL,
    launch_position integer NOT NULL,
    receive_channel integer NOT NULL,
    reference_power_dbm double precision NOT NULL,
    dut_power_dbm   double precision NOT NULL,
    insertion_loss_db double precision NOT NULL,
    limit_db        double precision NOT NULL,
    margin_db       double precision NOT NULL,
    verdict         text NOT NULL,
    reason          text NOT NULL,
    PRIMARY KEY (station_id, record_index, wavelength_nm, fiber_position)
);

-- Later knowledge about a record (SUSPECT marks, repairs), keyed like the records.
CREATE TABLE fleet.annotations (
    station_id      integer NOT NULL REFERENCES fleet.stations,
    annotation_index bigint NOT NULL,
    record_index    bigint NOT NULL,
    kind            text NOT NULL,
    note            text NOT NULL,
    created_utc     timestamptz,
    sha256          text NOT NULL,
    batch_id        bigint NOT NULL REFERENCES fleet.sync_batches,
    PRIMARY KEY (station_id, annotation_index)
);
CREATE INDEX annotations_record ON fleet.annotations (station_id, record_index);

-- Record numbers a station's store repair declared lost: the only gaps accepted.
CREATE TABLE fleet.lost_records (
    station_id      integer NOT NULL REFERENCES fleet.stations,
    record_index    bigint NOT NULL,
    PRIMARY KEY (station_id, record_index)
);

-- Summaries, maintained by fleet.apply_summaries in the batch's transaction, so the views read
-- a few thousand rows instead of scanning every attempt or fiber (docs/fleet.md, "Why summaries").
CREATE TABLE fleet.daily_counts (
    day             date NOT NULL,
    station_id      integer NOT NULL,
    lot             text NOT NULL,
    product         text NOT NULL,
    attempts        bigint NOT NULL,
    passed          bigint NOT NULL,
    conditional     bigint NOT NULL,
    failed          bigint NOT NULL,
    errors          bigint NOT NULL,
    aborted         bigint NOT NULL,
    first_attempts  bigint NOT NULL,
    first_passed    bigint NOT NULL,
    PRIMARY KEY (day, station_id, lot, product)
);
CREATE INDEX daily_counts_lot ON fleet.daily_counts (lot);

CREATE TABLE fleet.position_stats (
    lot             text NOT NULL,
    product         text NOT NULL,
    station_id      integer NOT NULL,
    wavelength_nm   double precision NOT NULL,
    fiber_position  integer NOT NULL,
    n               bigint NOT NULL,
    sum_il_db       double precision NOT NULL,
    sum_sq_il_db    double precision NOT NULL,
    min_il_db       double precision NOT NULL,
    max_il_db       double precision NOT NULL,
    n_over_limit    bigint NOT NULL,
    PRIMARY KEY (lot, product, station_id, wavelength_nm, fiber_position)
);

CREATE TABLE fleet.cause_counts (
    day             date NOT NULL,
    station_id      integer NOT NULL,
    lot             text NOT NULL,
    product         text NOT NULL,
    cause           text NOT NULL,
    n_attempts      bigint NOT NULL,
    PRIMARY KEY (day, station_id, lot, product, cause)
);

-- Per serial: attempts so far and the first and latest attempt (fleet-wide, by start time).
CREATE TABLE fleet.serial_status (
    serial          text PRIMARY KEY,
    lot             text NOT NULL,
    product         text NOT NULL,
    attempts        integer NOT NULL,
    first_started_utc timestamptz NOT NULL,
    first_outcome   text NOT NULL,
    last_started_utc timestamptz NOT NULL,
    last_outcome    text NOT NULL,
    last_station_id integer NOT NULL,
    last_record_index bigint NOT NULL
);
CREATE INDEX serial_status_lot ON fleet.serial_status (lot);
CREATE INDEX serial_status_retested ON fleet.serial_status (lot) WHERE attempts > 1;

-- Per lot x product: serials and their final and first outcomes, kept exact under retests by
-- applying the change of each serial's status (old status out, new status in).
CREATE TABLE fleet.lot_counts (
    lot             text NOT NULL,
    product         text NOT NULL,
    serials         bigint NOT NULL,
    final_passed    bigint NOT NULL,
    first_passed    bigint NOT NULL,
    retested        bigint NOT NULL,
    attempts        bigint NOT NULL,
    PRIMARY KEY (lot, product)
);
