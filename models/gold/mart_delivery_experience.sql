-- Contract §3.6: one row per month and city (of the order_placed event)
-- with an order, over all orders, completed and cancelled.
select
    month,
    city,
    count(*) as orders,
    countif(is_cancelled) as cancelled_orders,
    {{ safe_rate('countif(is_cancelled)', 'count(*)') }} as cancellation_rate,
    countif(is_delivered) as delivered_orders,
    avg(case when is_delivered then cast(delivery_minutes as float64) end) as avg_delivery_minutes,
    countif(rating is not null) as reviewed_orders,
    avg(cast(rating as float64)) as avg_rating,
    {{ safe_rate('countif(rating <= 2)', 'countif(rating is not null)') }} as low_rating_share
from {{ ref('int_orders') }}
group by month, city
order by month, city
