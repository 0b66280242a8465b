-- Contract §3.2: one row per customer with at least one completed order.
with per_customer as (
    select
        customer_id,
        min(order_date) as first_order_date,
        max(order_date) as last_order_date,
        count(*) as orders,
        sum(net_amount) as total_revenue,
        count(distinct month) as active_months,
        min(month) as first_month,
        any_value(as_of_date) as as_of_date
    from {{ ref('int_orders') }}
    where is_completed
    group by customer_id
),

measured as (
    select
        *,
        cast(total_revenue as float64) / orders as avg_order_value,
        -- Months from the first order's month to the as-of month, both counted.
        orders / cast(greatest(date_diff({{ month_start('as_of_date') }}, first_month, month) + 1, 1) as float64)
            as orders_per_month
    from per_customer
)

select
    customer_id,
    first_order_date,
    last_order_date,
    orders,
    cast(total_revenue as float64) as total_revenue,
    avg_order_value,
    date_diff(last_order_date, first_order_date, day) as tenure_days,
    active_months,
    orders_per_month,
    avg_order_value * orders_per_month * 12 as projected_revenue_12m
from measured
