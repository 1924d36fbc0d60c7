"""The operator dashboard (`/dashboard`): server-rendered pages for staff, by page (see `routes`)."""
