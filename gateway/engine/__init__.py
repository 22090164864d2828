"""The request engine every route goes through: validation, the pipeline of capability stages,
the router (balancing, retries, fallbacks, cooldowns, load shedding), streaming, warm-ups."""
