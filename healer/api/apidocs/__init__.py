"""The API's own reference page (/docs), served without the internet."""
