"""Pure types: ids, money, orders, products, shoppers, conversations, errors. No I/O."""
