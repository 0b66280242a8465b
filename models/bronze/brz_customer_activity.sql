-- Typed, deduplicated events: one row per event_id, the first valid copy in
-- stream order (partition, then offset) winning, as contract §2 requires.
--
-- A table, not a view: int_order_events and the bronze tests all read it.
-- The first copy is found by grouping and joining back rather than with
-- row_number(): nearly every event_id is its own window partition, and a
-- window over millions of one-row partitions is far slower than a hash
-- aggregate (every key here is non-null, ingest guarantees it). The small
-- side of each join comes first: DataFusion builds its hash table from the
-- left input.
{{ config(materialized='table') }}
with events as (
    select * from {{ source('kafka', 'customer_activity_data') }}
),

first_partition as (
    select event_id, min(_partition) as _partition
    from events
    group by event_id
),

first_copy as (
    select events.event_id, events._partition, min(events._offset) as _offset
    from first_partition
    join events
        on first_partition.event_id = events.event_id
        and first_partition._partition = events._partition
    group by events.event_id, events._partition
)

select events.*
from first_copy
join events
    on first_copy.event_id = events.event_id
    and first_copy._partition = events._partition
    and first_copy._offset = events._offset
