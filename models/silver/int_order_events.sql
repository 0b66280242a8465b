-- One winning event per order and event type (contract §2): the earliest by
-- event_ts, then the smallest event_id. Redeliveries of one event_id were
-- already reduced to their first copy in stream order in bronze, so
-- event_id is unique here.
--
-- A table, not a view: fact_order and this model's tests read it. The
-- winner is found by grouping and joining back rather than with
-- row_number(), for the reasons given in brz_customer_activity.
{{ config(materialized='table') }}
with events as (
    select * from {{ ref('brz_customer_activity') }}
),

earliest as (
    select order_id, event_type, min(event_ts) as event_ts
    from events
    group by order_id, event_type
),

winners as (
    select events.order_id, events.event_type, min(events.event_id) as event_id
    from earliest
    join events
        on earliest.order_id = events.order_id
        and earliest.event_type = events.event_type
        and earliest.event_ts = events.event_ts
    group by events.order_id, events.event_type
)

select events.*
from winners
join events
    on winners.order_id = events.order_id
    and winners.event_type = events.event_type
    and winners.event_id = events.event_id
