"""When exports run by themselves: schedules, the scheduler, the run queue and its workers."""
