"""Grading: one student (a worker per part), batches of students, and the course's self-validation."""
