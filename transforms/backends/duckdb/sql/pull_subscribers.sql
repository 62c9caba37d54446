-- Grain of `stg_subscribers`: one row per person of the snapshot (one deterministic copy of
-- duplicates), with the minors rule (policy `minors`, action drop): younger than $minors_under
-- years on the day (0 when the rule does not drop; an unknown birth date is not known to be a minor).
CREATE OR REPLACE TEMP TABLE stg_subscribers AS
SELECT account_id, profile_id, birth_date, gender, plan, copies,
       coalesce(date_sub('year', birth_date, CAST($day AS DATE)) < $minors_under, false) AS minor
FROM (
    -- The copy kept is the least by its values (nulls last): the same on every engine.
    SELECT *, row_number() OVER (PARTITION BY account_id, profile_id
                                 ORDER BY birth_date NULLS LAST, gender NULLS LAST, plan NULLS LAST,
                                          signup_date NULLS LAST) AS copy_no,
           count(*) OVER (PARTITION BY account_id, profile_id) AS copies
    FROM (
        SELECT CAST(account_id AS VARCHAR) AS account_id, CAST(profile_id AS VARCHAR) AS profile_id,
               try_cast(birth_date AS DATE) AS birth_date, CAST(gender AS VARCHAR) AS gender,
               CAST(plan AS VARCHAR) AS plan, try_cast(signup_date AS DATE) AS signup_date
        FROM raw_subscribers
    )
)
WHERE copy_no = 1;
