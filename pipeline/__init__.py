"""shortship: find short, wrong and missed shipments in Taobao/Tmall exports."""

__version__ = "0.1.0"
