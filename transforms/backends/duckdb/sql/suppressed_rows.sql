-- Grain: one row per suppressed frequency row: the person and each attribute's lowest code.
SELECT p.{{ person | ident }}, {% for i in range(attributes) %}s.a{{ i }}{{ ", " if not loop.last }}{% endfor %}

FROM suppressed_codes s JOIN people p USING (pid);
