"""rsync-braze: warehouse-native customer data activation for Braze.

The dbt side (models/, macros/) unifies, deduplicates and scores customers in the warehouse; this package
syncs the resulting tables to Braze, runs the embedded warehouse and the local Braze emulator.
"""

__version__ = "0.1.0"
