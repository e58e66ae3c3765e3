"""Walk figures: how flows do for the people who walk them, per flow, version and step.

A domain package below the features (like tickets): the supervisor's overview and the staff flows
pages both read these figures, and a feature may not import another feature.
"""
