// Small progressive enhancements; the portal works without this file.
