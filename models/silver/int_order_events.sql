{{ config(materialized='view') }}
-- One winning event per order and event type (contract §2): the earliest by
-- event_ts, then the smallest event_id. Redeliveries of one event_id were
-- already reduced to their first copy in stream order in bronze.
select * except (_rank)
from (
    select
        *,
        row_number() over (
            partition by order_id, event_type order by event_ts, event_id
        ) as _rank
    from {{ ref('brz_customer_activity') }}
)
where _rank = 1
