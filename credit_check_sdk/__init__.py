"""credit-check-sdk: credit checks for agency approval systems."""
