-- Contract §3.4: RFM scores and segments, one row per customer with at
-- least one completed order. Spend is ranked as the exact decimal sum, so
-- ties in spend stay ties.
with per_customer as (
    select
        customer_id,
        date_diff(any_value(as_of_date), max(order_date), day) as recency_days,
        count(*) as frequency,
        sum(net_amount) as monetary
    from {{ ref('int_orders') }}
    where is_completed
    group by customer_id
),

scored as (
    select
        *,
        ntile(5) over (order by recency_days desc, customer_id) as r_score,
        ntile(5) over (order by frequency, customer_id) as f_score,
        ntile(5) over (order by monetary, customer_id) as m_score
    from per_customer
)

select
    customer_id,
    recency_days,
    frequency,
    cast(monetary as float64) as monetary,
    r_score,
    f_score,
    m_score,
    case
        when r_score >= 4 and f_score >= 4 then 'champions'
        when r_score >= 3 and f_score >= 3 then 'loyal'
        when r_score >= 4 and f_score <= 2 then 'new'
        when r_score <= 2 and f_score >= 3 then 'at_risk'
        when r_score <= 2 and f_score <= 2 then 'hibernating'
        else 'needs_attention'
    end as segment,
    case
        when recency_days > 60 then 'high'
        when recency_days > 30 then 'medium'
        else 'low'
    end as churn_risk
from scored
