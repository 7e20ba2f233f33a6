"""The one-shot tools: `mictl profile capture|check` and `mictl site
check|record|replay`. Each opens a browser, does one job and exits; an
instance never imports them."""
