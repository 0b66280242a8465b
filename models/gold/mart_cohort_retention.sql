-- Contract §3.3: one row per cohort (the month of a customer's first
-- completed order) and month offset, from 0 to the as-of month, rows with
-- nobody active included.
with completed as (
    select distinct customer_id, month
    from {{ ref('int_orders') }}
    where is_completed
),

cohorts as (
    select customer_id, min(month) as cohort_month
    from completed
    group by customer_id
),

sizes as (
    select cohort_month, count(*) as cohort_size
    from cohorts
    group by cohort_month
),

as_of_month as (
    select {{ month_start('as_of_date') }} as month from {{ ref('int_as_of') }}
),

offsets as (
    select months_since_first
    from unnest(generate_array(0, (
        select date_diff(as_of_month.month, min(cohorts.cohort_month), month)
        from cohorts cross join as_of_month
        group by as_of_month.month
    ))) as months_since_first
),

grid as (
    select sizes.cohort_month, offsets.months_since_first, sizes.cohort_size
    from sizes
    cross join offsets
    cross join as_of_month
    where offsets.months_since_first <= date_diff(as_of_month.month, sizes.cohort_month, month)
),

activity as (
    select
        cohorts.cohort_month,
        date_diff(completed.month, cohorts.cohort_month, month) as months_since_first,
        count(distinct completed.customer_id) as active_customers
    from completed
    join cohorts on cohorts.customer_id = completed.customer_id
    group by 1, 2
)

select
    grid.cohort_month,
    grid.months_since_first,
    grid.cohort_size,
    coalesce(activity.active_customers, 0) as active_customers,
    {{ safe_rate('coalesce(activity.active_customers, 0)', 'grid.cohort_size') }} as retention_rate
from grid
left join activity
    on activity.cohort_month = grid.cohort_month
    and activity.months_since_first = grid.months_since_first
order by grid.cohort_month, grid.months_since_first
