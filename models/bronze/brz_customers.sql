-- The latest pulled version of each customer: incremental pulls land
-- inserted and updated rows as new files, so the newest updated_at wins.
select * except (_version)
from (
    select
        *,
        row_number() over (partition by customer_id order by updated_at desc) as _version
    from {{ source('postgres', 'customers') }}
)
where _version = 1
