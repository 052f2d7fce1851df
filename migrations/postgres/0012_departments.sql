-- Departments of the street (站所: 派出所, 司法所, 城管中队, 安监站, 住建, ...) that cases are
-- dispatched to (issue 16), with their own users (role `department`).
CREATE TABLE departments (
    id        TEXT PRIMARY KEY,
    street_id TEXT NOT NULL REFERENCES streets (id),
    name      TEXT NOT NULL
);

ALTER TABLE users ADD COLUMN department_id TEXT REFERENCES departments (id);

-- Scope facts: the departments a case was dispatched to, as ",pcs,sfs," (empty: none). Their
-- staff read and sync it.
ALTER TABLE docs ADD COLUMN departments TEXT NOT NULL DEFAULT '';

-- The department handling a case now, and those co-handling it (",a,b,").
ALTER TABLE case_index ADD COLUMN department TEXT;
ALTER TABLE case_index ADD COLUMN co_departments TEXT NOT NULL DEFAULT '';
CREATE INDEX case_index_department ON case_index (department);
