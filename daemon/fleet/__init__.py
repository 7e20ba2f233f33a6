"""Running a fleet: the link between the supervisor and the router, and the
policies above both (recycling, scaling, rolling and health restarts,
recovery, the dashboard's feed)."""
