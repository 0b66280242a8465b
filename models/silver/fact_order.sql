{{ config(materialized='incremental', unique_key='order_id') }}
-- One row per order that has an order_placed event (contract §2), with what
-- its delivery, cancellation and review events say. int_order_events holds
-- at most one event per order and type, so each column is the value of
-- that one event: a single grouping pass instead of one scan and join per
-- event type. Incremental: a build recomputes, from all their events, only
-- the orders that received an event in a land folder at or after the
-- newest one already merged, so a late or repeated event updates its order
-- and nothing else is scanned twice.
with events as (
    select *
    from {{ ref('int_order_events') }}
    {% if is_incremental() %}
    where order_id in (
        select order_id
        from {{ ref('int_order_events') }}
        where concat(dt, ' ', hr) >= (select coalesce(max(_landed_hour), '') from {{ this }})
    )
    {% endif %}
),

orders as (
    select
        order_id,
        {{ event_value('order_placed', 'customer_id') }} as customer_id,
        {{ event_value('order_placed', 'restaurant_id') }} as restaurant_id,
        {{ event_value('order_placed', 'city') }} as city,
        {{ event_value('order_placed', 'order_type') }} as order_type,
        {{ event_value('order_placed', 'event_ts') }} as placed_at,
        {{ event_value('order_placed', 'order_amount') }} as order_amount,
        {{ event_value('order_placed', 'discount_amount') }} as discount_amount,
        {{ event_value('order_placed', 'delivery_fee') }} as delivery_fee,
        {{ event_value('order_placed', 'payment_method') }} as payment_method,
        countif(event_type = 'order_cancelled') > 0 as is_cancelled,
        {{ event_value('order_cancelled', 'event_ts') }} as cancelled_at,
        {{ event_value('order_cancelled', 'cancel_reason') }} as cancel_reason,
        countif(event_type = 'order_delivered') > 0 as is_delivered,
        {{ event_value('order_delivered', 'event_ts') }} as delivered_at,
        {{ event_value('order_delivered', 'delivery_person_id') }} as delivery_person_id,
        {{ event_value('order_delivered', 'delivery_minutes') }} as delivery_minutes,
        {{ event_value('order_delivered', 'weather') }} as weather,
        {{ event_value('order_delivered', 'traffic_density') }} as traffic_density,
        {{ event_value('order_delivered', 'vehicle_type') }} as vehicle_type,
        {{ event_value('order_delivered', 'multiple_deliveries') }} as multiple_deliveries,
        {{ event_value('order_delivered', 'festival', 'logical_or') }} as festival,
        {{ event_value('review_submitted', 'rating') }} as rating,
        {{ event_value('review_submitted', 'review_text') }} as review_text,
        max(concat(dt, ' ', hr)) as _landed_hour
    from events
    group by order_id
    having countif(event_type = 'order_placed') > 0
)

select
    order_id,
    customer_id,
    restaurant_id,
    city,
    order_type,
    date(placed_at) as order_date,
    placed_at,
    order_amount,
    discount_amount,
    delivery_fee,
    order_amount - discount_amount as net_amount,
    payment_method,
    is_cancelled,
    cancelled_at,
    cancel_reason,
    is_delivered,
    delivered_at,
    delivery_person_id,
    delivery_minutes,
    weather,
    traffic_density,
    vehicle_type,
    multiple_deliveries,
    festival,
    rating,
    review_text,
    _landed_hour
from orders
