"""e-Learning (e学习): the catalogue of five sections, enrolments, progress and learning hours."""
