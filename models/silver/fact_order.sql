{{ config(materialized='incremental', unique_key='order_id') }}
-- One row per order that has an order_placed event (contract §2), with what
-- its delivery, cancellation and review events say. Incremental: a build
-- recomputes, from all their events, only the orders that received an
-- event in a land folder at or after the newest one already merged, so a
-- late or repeated event updates its order and nothing else is scanned
-- twice.
with events as (
    select
        *,
        max(concat(dt, ' ', hr)) over (partition by order_id) as _landed_hour
    from {{ ref('int_order_events') }}
    {% if is_incremental() %}
    where order_id in (
        select order_id
        from {{ ref('int_order_events') }}
        where concat(dt, ' ', hr) >= (select coalesce(max(_landed_hour), '') from {{ this }})
    )
    {% endif %}
),

placed as (select * from events where event_type = 'order_placed'),
delivered as (select * from events where event_type = 'order_delivered'),
cancelled as (select * from events where event_type = 'order_cancelled'),
reviewed as (select * from events where event_type = 'review_submitted')

select
    placed.order_id,
    placed.customer_id,
    placed.restaurant_id,
    placed.city,
    placed.order_type,
    date(placed.event_ts) as order_date,
    placed.event_ts as placed_at,
    placed.order_amount,
    placed.discount_amount,
    placed.delivery_fee,
    placed.order_amount - placed.discount_amount as net_amount,
    placed.payment_method,
    cancelled.order_id is not null as is_cancelled,
    cancelled.event_ts as cancelled_at,
    cancelled.cancel_reason,
    delivered.order_id is not null as is_delivered,
    delivered.event_ts as delivered_at,
    delivered.delivery_person_id,
    delivered.delivery_minutes,
    delivered.weather,
    delivered.traffic_density,
    delivered.vehicle_type,
    delivered.multiple_deliveries,
    delivered.festival,
    reviewed.rating,
    reviewed.review_text,
    placed._landed_hour
from placed
left join delivered on delivered.order_id = placed.order_id
left join cancelled on cancelled.order_id = placed.order_id
left join reviewed on reviewed.order_id = placed.order_id
