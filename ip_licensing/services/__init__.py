"""Writes of the IP registry and licensing (§10): one module per concept.

``assets`` (the registry), ``licences`` (proposal, acceptance, approval, terms),
``check`` (the licence check), ``royalties`` and ``allocation`` (§10.5). Import the
functions from their modules.
"""
