"""The client's personal plan, the clinician's review and the "review suggested" flags."""
