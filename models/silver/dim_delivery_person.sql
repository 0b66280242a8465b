-- One row per delivery person who delivered an order.
select
    delivery_person_id,
    count(*) as deliveries,
    avg(delivery_minutes) as avg_delivery_minutes,
    min(delivered_at) as first_delivery_at,
    max(delivered_at) as last_delivery_at
from {{ ref('fact_order') }}
where is_delivered and delivery_person_id is not null
group by delivery_person_id
