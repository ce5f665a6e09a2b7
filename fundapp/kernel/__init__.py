"""The shared kernel both domains build on (§4): the fund, research areas and their
sensitivity, input cleaning, problem collection, notice helpers, and the registry through
which one domain answers another's questions without either importing the other.
"""
