SELECT * FROM {{ source | ident }} LIMIT $n;
