-- Contract §3.7: per churn_risk level of mart_customer_segments, the mean
-- over its customers of each customer's own delivery, rating and
-- cancellation figures (over all their orders, completed and cancelled).
with per_customer as (
    select
        customer_id,
        avg(case when is_delivered then cast(delivery_minutes as float64) end) as avg_delivery_minutes,
        {{ safe_rate('countif(is_delivered and delivery_minutes > 40)', 'countif(is_delivered)') }}
            as late_delivery_share,
        avg(cast(rating as float64)) as avg_rating,
        {{ safe_rate('countif(is_cancelled)', 'count(*)') }} as cancellation_rate
    from {{ ref('int_orders') }}
    group by customer_id
)

select
    segments.churn_risk,
    count(*) as customers,
    avg(per_customer.avg_delivery_minutes) as avg_delivery_minutes,
    avg(per_customer.late_delivery_share) as late_delivery_share,
    avg(per_customer.avg_rating) as avg_rating,
    avg(per_customer.cancellation_rate) as cancellation_rate
from {{ ref('mart_customer_segments') }} as segments
join per_customer on per_customer.customer_id = segments.customer_id
group by segments.churn_risk
order by segments.churn_risk
