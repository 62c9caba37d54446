-- Drops a table the engine kept (materialize) once it has been read.
DROP TABLE IF EXISTS {{ table | ident }};
