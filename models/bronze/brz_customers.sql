-- The current version of each customer. Every pull lands the rows
-- inserted or updated since the last one (and the boundary row again), and a
-- tombstone (_deleted) for each customer deleted since: the row of the
-- latest pull wins (then the latest updated_at), and deleted customers drop
-- out.
select * except (_version, _deleted)
from (
    select
        *,
        row_number() over (
            partition by customer_id order by _pulled_at desc, updated_at desc
        ) as _version
    from {{ source('postgres', 'customers') }}
)
where _version = 1 and not coalesce(_deleted, false)
