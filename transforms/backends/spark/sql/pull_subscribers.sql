-- Spark's counterpart of backends/duckdb/sql/pull_subscribers.sql: the same copy kept.
-- Grain of `stg_subscribers`: one row per person of the snapshot (the least copy by its values,
-- nulls last), with the minors rule: younger than $minors_under full years on the day.
CREATE OR REPLACE TEMP TABLE stg_subscribers AS
SELECT account_id, profile_id, birth_date, gender, plan, copies,
       -- Full years: months_between counts a month from the 29th of February to the 28th
       -- (both month ends), as DuckDB's date_sub does.
       coalesce(floor(months_between(CAST($day AS DATE), birth_date, false) / 12) < $minors_under, false) AS minor
FROM (
    SELECT *, row_number() OVER (PARTITION BY account_id, profile_id
                                 ORDER BY birth_date NULLS LAST, gender NULLS LAST, plan NULLS LAST,
                                          signup_date NULLS LAST) AS copy_no,
           count(*) OVER (PARTITION BY account_id, profile_id) AS copies
    FROM (
        SELECT CAST(account_id AS STRING) AS account_id, CAST(profile_id AS STRING) AS profile_id,
               try_cast(birth_date AS DATE) AS birth_date, CAST(gender AS STRING) AS gender,
               CAST(plan AS STRING) AS plan, try_cast(signup_date AS DATE) AS signup_date
        FROM raw_subscribers
    )
)
WHERE copy_no = 1;
