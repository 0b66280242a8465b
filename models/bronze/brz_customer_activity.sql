-- Typed, deduplicated events: one row per event_id, the first valid copy in
-- stream order (partition, offset) winning, as contract §2 requires.
select * except (_copy)
from (
    select
        *,
        row_number() over (partition by event_id order by _partition, _offset) as _copy
    from {{ source('kafka', 'customer_activity_data') }}
)
where _copy = 1
