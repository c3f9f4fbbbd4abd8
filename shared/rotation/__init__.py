"""IPsec pre-shared key rotation. Pure modules here never import an Azure SDK."""
