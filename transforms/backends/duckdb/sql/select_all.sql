SELECT * FROM {{ table | ident }};
