"""Advisors' sessions and states (log in/out, pause with a reason), their daily accounting, the
supervisors' live view (wallboard) and listening (ChanSpy). Issue 6."""
