"""Data files shipped with cnnviz: sample photographs and offline weights."""
