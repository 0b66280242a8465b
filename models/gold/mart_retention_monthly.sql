-- Contract §3.1: one row per month from the month of the first completed
-- order to the as-of month, months without orders included.
with completed as (
    select customer_id, month, net_amount
    from {{ ref('int_orders') }}
    where is_completed
),

months as (
    select month
    from unnest(generate_date_array(
        (select min(month) from completed),
        (select {{ month_start('as_of_date') }} from {{ ref('int_as_of') }}),
        interval 1 month
    )) as month
),

first_months as (
    select customer_id, min(month) as first_month
    from completed
    group by customer_id
),

active as (
    select month, customer_id, count(*) as orders
    from completed
    group by month, customer_id
),

per_month as (
    select
        months.month,
        count(active.customer_id) as active_customers,
        countif(first_months.first_month = months.month) as new_customers,
        countif(active.orders >= 2) as repeat_customers,
        coalesce(sum(active.orders), 0) as orders
    from months
    left join active on active.month = months.month
    left join first_months on first_months.customer_id = active.customer_id
    group by months.month
),

retained as (
    select this_month.month, count(*) as retained_customers
    from active as this_month
    join active as previous_month
        on previous_month.customer_id = this_month.customer_id
        and previous_month.month = date_sub(this_month.month, interval 1 month)
    group by this_month.month
),

revenue as (
    select month, sum(net_amount) as revenue
    from completed
    group by month
),

with_previous as (
    select
        per_month.*,
        coalesce(retained.retained_customers, 0) as retained_customers,
        lag(per_month.active_customers) over (order by per_month.month) as previous_active,
        coalesce(revenue.revenue, 0) as revenue
    from per_month
    left join retained on retained.month = per_month.month
    left join revenue on revenue.month = per_month.month
)

select
    month,
    active_customers,
    new_customers,
    active_customers - new_customers as returning_customers,
    retained_customers,
    coalesce(previous_active, 0) - retained_customers as churned_customers,
    {{ safe_rate('coalesce(previous_active, 0) - retained_customers', 'previous_active') }} as churn_rate,
    {{ safe_rate('retained_customers', 'previous_active') }} as retention_rate,
    {{ safe_rate('repeat_customers', 'active_customers') }} as repeat_purchase_rate,
    orders,
    cast(revenue as float64) as revenue,
    safe_divide(cast(revenue as float64), nullif(orders, 0)) as avg_order_value
from with_previous
order by month
