-- Contract §3.5: one row per ISO week (Monday) with a completed order.
with per_customer as (
    select week_start, customer_id, count(*) as orders
    from {{ ref('int_orders') }}
    where is_completed
    group by week_start, customer_id
)

select
    week_start,
    count(*) as active_customers,
    countif(orders >= 2) as repeat_customers,
    {{ safe_rate('countif(orders >= 2)', 'count(*)') }} as repeat_purchase_rate,
    sum(orders) as orders
from per_customer
group by week_start
order by week_start
